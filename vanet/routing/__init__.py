"""Sans-I/O routing: tables, strategies and the actions they return."""
