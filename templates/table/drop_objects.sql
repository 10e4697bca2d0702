-- Removes what add-table installed for {{ set_name }} on this node.
{%- if let Some(table) = sender_table %}
drop trigger if exists repsync_capture_insert on {{ table }};
drop trigger if exists repsync_capture_update on {{ table }};
drop trigger if exists repsync_capture_delete on {{ table }};
drop trigger if exists repsync_capture_truncate on {{ table }};
{%- endif %}
{%- if let Some(capture) = capture_function %}
drop function if exists repsync.{{ capture }}();
{%- endif %}
drop function if exists repsync.{{ current_function }}(json);
drop procedure if exists repsync.{{ apply_function }}("char", json, json);
drop procedure if exists repsync.{{ apply_function }}("char", json, json, json);
{%- if let Some(versions) = versions %}
drop table if exists repsync.{{ versions }};
{%- endif %}
delete from repsync.replicated_table where set_name = {{ set_name }};
