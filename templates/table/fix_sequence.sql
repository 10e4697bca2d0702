-- This node's key values: {{ start }}, then every {{ step }}th value, so that no
-- two nodes hand out the same one.
alter sequence {{ sequence }} increment by {{ step }};
select pg_catalog.setval({{ sequence_literal }}::regclass, {{ start }}, false);
