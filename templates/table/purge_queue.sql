-- Throws away the changes still queued for {{ set_name }} (remove-table --force).
delete from repsync.sync_err_rec where set_name = {{ set_name }};
