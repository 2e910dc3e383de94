"""ament_python package definition of robot_rl (colcon and pip both build it)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "robot_rl"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.yaml")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/urdf", glob("urdf/*")),
        (f"share/{PACKAGE}/calibration", glob("calibration/*")),
    ],
    python_requires=">=3.10",
    install_requires=["numpy", "PyYAML", "rosbags", "yourdfpy"],
    zip_safe=True,
    maintainer="robot_rl developers",
    maintainer_email="robot-rl@example.org",
    description="ROS2 robot manipulation stack: frozen base policy, residual RL, safety gate, teleop correction.",
    license="Apache-2.0",
    tests_require=["pytest"],
)
