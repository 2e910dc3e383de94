# robot_rl: `make run` runs the main job, `make test` runs the tests. Both set up first.
PYTHON ?= python3
VENV := .venv
ROS_VENV := .venv-ros
STAMP := $(VENV)/.installed
ROS_STAMP := $(ROS_VENV)/.installed
APT_PACKAGES := libusb-1.0-0 libegl1 libgl1 libgles2 libegl-mesa0 libgl1-mesa-dri xvfb
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: run test test-fast test-rclpy lint setup setup-ros system-deps clean

# The main job: the whole graph in simulation (sim.launch.yaml: robosuite -> perception -> base policy ->
# residual -> intervention arbiter -> safety) on Stack, with the shipped base policy alone and with the shipped
# residual RL corrector on top of it, on the same seeds, at once (one process each): prints both success rates
# side by side with Wilson intervals, safety events and intervention ticks, and writes a video of the first
# episode of each to runs/make_run/{base,base_residual}. RESIDUAL= (empty) runs the base alone.
TASK ?= Stack
BASE ?= models/stack_act
RESIDUAL ?= $(if $(filter models/stack_act,$(BASE)),models/stack_residual,)
# the shipped residual may open or close the gripper against the base (gripper bound 2.0): the gate must allow it
SAFETY_PARAMS ?= $(if $(filter models/stack_residual,$(RESIDUAL)),benchmarks/params/safety_gripper_residual.yaml,)
RUN_EPISODES ?= 10
run: setup
	$(VENV)/bin/robot-rl eval --task $(TASK) --base $(BASE) --episodes $(RUN_EPISODES) \
		--video-dir runs/make_run --video-episodes 1 $(if $(RESIDUAL),--residual $(RESIDUAL) --side-by-side --jobs 2,) \
		$(if $(SAFETY_PARAMS),--safety-params $(SAFETY_PARAMS),)

test: setup setup-ros lint
	$(VENV)/bin/python -m pytest -q
	$(MAKE) test-rclpy

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

# The rclpy tier: the same node classes on real rclpy (ROS2 Jazzy wheels), loopback-only DDS.
RCLPY_TESTS := tests/runtime/test_rclpy_backend.py tests/policies/test_rl_nodes_on_rclpy.py tests/test_training_as_processes_benchmark.py
test-rclpy: setup-ros
	ROBOT_RL_REQUIRE_RCLPY=1 ROBOT_RL_BACKEND=rclpy ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
		$(ROS_VENV)/bin/python -m pytest -q -m rclpy $(RCLPY_TESTS)

lint: setup
	$(VENV)/bin/ruff check robot_rl tests benchmarks
	$(VENV)/bin/ruff format --check robot_rl tests benchmarks

setup: system-deps $(STAMP)
setup-ros: setup $(ROS_STAMP)

# Debian packages: libusb for pyrealsense2, EGL/Mesa for headless MuJoCo, Xvfb for the keyboard teleop test. Installed only when missing and root.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "warning: missing Debian packages ($$missing); install them as root"; \
		fi; \
	fi

$(STAMP): requirements.lock setup.py setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-cache-dir --no-deps -r requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# rclpy and its pure-Python needs in .venv-ros; a .pth file then appends the main venv's site-packages to its
# path, so the nodes that need the rest of the stack (torch, LeRobot, robosuite) run on real rclpy too, with
# the packages `make run` uses (both venvs come from the same $(PYTHON); .venv-ros's own copies come first).
$(ROS_STAMP): requirements-ros.txt $(STAMP) Makefile
	$(PYTHON) -m venv $(ROS_VENV)
	$(ROS_VENV)/bin/pip install -q --disable-pip-version-check --no-cache-dir -r requirements-ros.txt \
		$$(grep -iE '^(numpy|pyyaml|rosbags|ruamel.yaml|ruamel.yaml.clib|lz4|zstandard|typing_extensions|pytest|iniconfig|packaging|pluggy|pygments)==' requirements.lock)
	$(ROS_VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	$(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		> "$$($(ROS_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/robot_rl_main_venv.pth"
	touch $(ROS_STAMP)

clean:
	rm -rf $(VENV) $(ROS_VENV) build *.egg-info .pytest_cache .ruff_cache
