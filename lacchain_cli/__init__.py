"""The ``lacchain`` command line: keys, genesis, schema, and the offline ``synth``/``diff`` of member stacks."""
