# Adds the salt hook wrapper (/var/lib/heat-config/hooks/salt) to what the heat-agent element installs.
export DIB_HEAT_AGENT_HOOKS="${DIB_HEAT_AGENT_HOOKS:-script} salt"
