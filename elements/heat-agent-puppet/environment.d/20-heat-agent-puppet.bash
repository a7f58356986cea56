# Adds the puppet hook wrapper (/var/lib/heat-config/hooks/puppet) to what the heat-agent element installs.
export DIB_HEAT_AGENT_HOOKS="${DIB_HEAT_AGENT_HOOKS:-script} puppet"
