"""Verilog generators for FPGAs: pipelined comparator trees for tree ensembles and a
sequential int8 MLP; each core comes with a Verilator testbench and a synthesis wrapper
(:mod:`edgeslim.backends.fpga` simulates and synthesizes them)."""

from __future__ import annotations

from edgeslim.codegen.verilog._common import VerilogArtifact, pack_fields, unpack_fields
from edgeslim.codegen.verilog.trees import TreeHardware, tree_verilog

__all__ = ["TreeHardware", "VerilogArtifact", "pack_fields", "tree_verilog", "unpack_fields"]
