# Built-in hooks to install as /var/lib/heat-config/hooks/<name> wrappers; the sub-elements
# heat-agent-ansible and heat-agent-puppet append theirs.
export DIB_HEAT_AGENT_HOOKS=${DIB_HEAT_AGENT_HOOKS:-script}
