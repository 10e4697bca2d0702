-- One queued change, for showing why a drain stopped.
select e.id, e.dest, coalesce(t.source, e.set_name) as source, e.op::text as op, e.queued_at::text as queued_at,
       left(coalesce(e.new_rows, e.old_rows)::text, 300) as rows
  from repsync.sync_err_rec e
  left join repsync.replicated_table t on t.set_name = e.set_name
 where e.id = $1
