# Adds the ansible hook wrapper (/var/lib/heat-config/hooks/ansible) to what the heat-agent element installs.
export DIB_HEAT_AGENT_HOOKS="${DIB_HEAT_AGENT_HOOKS:-script} ansible"
