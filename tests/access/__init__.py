"""Proof of access: the synthesized policies, evaluated by a real IAM policy evaluator."""
