"""The ROS-free core of the residual RL corrector: networks, replay, the TD3 learner and its checkpoints.

- :mod:`robot_rl.rl.networks`: the zero-initialized, bounded residual actor and the batched critic ensemble;
- :mod:`robot_rl.rl.replay`: n-step transitions, the preallocated ring buffer and RLPD's 50/50 sampling;
- :mod:`robot_rl.rl.td3`: ``TD3Config`` and ``ResidualTD3`` (acting and one update at a time);
- :mod:`robot_rl.rl.checkpoint`: the actor checkpoint the residual node loads, and the full training state.

Actions are normalized to [-1, 1] throughout (the action space of ``robot_rl.action_space``).
"""
