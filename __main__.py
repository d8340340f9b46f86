"""Pulumi entry point of a member stack (``pulumi up -s <stack>``): thin by design.

Reads the stack's ``lacchain-cloud:`` configuration, validates it, and declares the member's nodes. The same
``member_program`` runs under ``lacchain synth`` (offline, mocked) and under the BaaS controller.
"""

from pathlib import Path

from components.gc_tuning import relax_gc
from components.member import member_program

relax_gc()
member_program(Path(__file__).resolve().parent)
