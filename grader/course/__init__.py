"""The instructor's workflow around nbgrader: paths, release, collect, autograde, feedback,
export, demo.

Trusted code, instructor only, never shipped. It may import every other ``grader`` package.
Everything it reads from a submission or a student's kernel is hostile data.
"""
