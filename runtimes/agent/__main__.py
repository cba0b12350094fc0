"""``python3 -m runtimes.agent``: how the image (and the process backend) starts the agent."""

from runtimes.agent.agent import main

if __name__ == "__main__":
    main()
