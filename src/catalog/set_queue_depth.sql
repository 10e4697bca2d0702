select count(*) from repsync.sync_err_rec where set_name = $1
