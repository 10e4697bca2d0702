-- The highest key value this node has stored or its sequence has handed out.
select greatest(coalesce(max(t.{{ column }})::int8, 0),
                coalesce(pg_catalog.pg_sequence_last_value({{ sequence }}::regclass), 0))
  from {% if !partitioned %}only {% endif %}{{ table }} as t
