-- The destinations that still have queued changes of a table, with how many.
select dest, count(*) as depth from repsync.sync_err_rec where set_name = $1 group by dest order by dest
