"""Human intervention: teleop devices, the arbiter, a simulated human for sim sessions, and their node."""
