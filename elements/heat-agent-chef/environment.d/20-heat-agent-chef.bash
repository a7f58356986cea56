# Adds the chef hook wrapper (/var/lib/heat-config/hooks/chef) to what the heat-agent element installs.
export DIB_HEAT_AGENT_HOOKS="${DIB_HEAT_AGENT_HOOKS:-script} chef"
