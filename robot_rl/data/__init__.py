"""Data: episode recording to LeRobotDataset."""
