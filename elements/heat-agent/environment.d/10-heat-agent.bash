# Built-in hooks to install as /var/lib/heat-config/hooks/<name> wrappers; the sub-elements
# heat-agent-ansible, heat-agent-puppet, heat-agent-salt and heat-agent-chef append theirs.
export DIB_HEAT_AGENT_HOOKS=${DIB_HEAT_AGENT_HOOKS:-script}
