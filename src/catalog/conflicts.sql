-- The latest conflicts on this node, of one table ($1, its name as given to
-- add-table) or all ($1 null), newest first, at most $2.
select c.id, to_char(c.detected_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       coalesce(t.source, c.set_name), c.key::text,
       c.local_origin, c.local_row::text, c.remote_origin, c.remote_row::text,
       c.policy, c.winner
  from repsync.conflict c
  left join repsync.replicated_table t on t.set_name = c.set_name
 where $1::text is null or t.source = $1::text
 order by c.id desc
 limit $2
