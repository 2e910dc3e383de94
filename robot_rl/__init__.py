"""robot_rl: a ROS2 robot manipulation stack with a frozen base policy, a residual RL
corrector, a safety gate and human intervention."""

__version__ = "0.1.0"
