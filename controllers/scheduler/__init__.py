"""The scheduler (kube-scheduler): queue, framework and plugins, binding, preemption. See scheduler.py."""
