"""The facade and its organs: records, watch, incidents, events, farm, Fleet, Fleets."""
