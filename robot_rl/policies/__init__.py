"""Policies: the observation/action features, the frozen LeRobot base policy and its training."""
