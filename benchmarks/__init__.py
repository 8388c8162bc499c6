"""Performance benchmarks of the Neuron reproduction (scripts, not tests).

The command line is ``python benchmarks/run.py`` (see its ``--help``); its modes live in one
module each, lowest first:

* :mod:`benchmarks.timing`: wall and CPU clocks, the fp32 matmul bound, load average;
* :mod:`benchmarks.flops`: the FLOP count of the encoder (matrix products only);
* :mod:`benchmarks.encoder`: the reference implementation of another revision, one encoder row;
* :mod:`benchmarks.neuron_stage`: the Neuron stage with cached features vs. recomputed encoder;
* :mod:`benchmarks.e2e`: the README's main job end to end;
* :mod:`benchmarks.table`: the full table (matmul bound, encoder rows, Neuron stage, end to end);
* :mod:`benchmarks.profiling`, :mod:`benchmarks.ab`, :mod:`benchmarks.memory`: the other modes;
* :mod:`benchmarks.allocators`: running under the training kernels' allocator, and comparing two.
"""
from pathlib import Path

#: The project's root folder.
ROOT = Path(__file__).resolve().parent.parent
#: The command line; modes that need a fresh process (allocator, memory) run it again.
RUN = ROOT / "benchmarks" / "run.py"
