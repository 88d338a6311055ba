"""What runs inside the sandbox: the worker, its transport and the recipe contract.

Copied as a directory into every sandboxed worker, and shipped to students (it holds nothing
secret). It imports only the standard library and NumPy, never another ``grader`` package.
"""
