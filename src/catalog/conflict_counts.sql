-- Conflicts logged on this node per replicated table.
select coalesce(t.source, c.set_name), count(*)
  from repsync.conflict c
  left join repsync.replicated_table t on t.set_name = c.set_name
 group by 1
 order by 1
