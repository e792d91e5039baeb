"""Effective-dated price catalogue and the cost maths (one SQL function, used everywhere)."""
