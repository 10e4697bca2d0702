-- Queue depth, age of the oldest entry and the last error, per destination.
select e.dest,
       count(*) as depth,
       extract(epoch from clock_timestamp() - min(e.queued_at))::float8 as oldest_seconds,
       (select x.last_error from repsync.sync_err_rec x
         where x.dest = e.dest and x.last_error is not null
         order by x.last_attempt desc nulls last limit 1) as last_error,
       (select x.id from repsync.sync_err_rec x where x.dest = e.dest order by x.id limit 1) as oldest_id
  from repsync.sync_err_rec e
 group by e.dest
 order by e.dest
