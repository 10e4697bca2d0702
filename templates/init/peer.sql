-- Node {{ node }} reaches node {{ peer }} through this server; the origin option marks
-- the sessions it opens there, so their changes are not sent back.
drop server if exists {{ server }} cascade;
create server {{ server }} foreign data wrapper dblink_fdw options (
{%- for (key, value) in options %}
    {{ key }} {{ value }}{% if !loop.last %},{% endif %}
{%- endfor %}
);
create user mapping for current_user server {{ server }} options (
{%- for (key, value) in mapping %}
    {{ key }} {{ value }}{% if !loop.last %},{% endif %}
{%- endfor %}
);
{%- if let Some(setting) = password_setting %}
-- The password is a setting of this transaction: no statement the server may log
-- holds it.
do {{ tag }}
begin
    execute format('alter user mapping for current_user server %I options (add password %L)',
                   {{ server_literal }}, current_setting({{ setting }}));
end
{{ tag }};
{%- endif %}
-- The highest id of a transaction that queued changes for {{ peer }} (see queue_pending).
create sequence if not exists repsync.{{ queued_mark }} minvalue 0 start 0;
insert into repsync.peer (name, server_name) values ({{ peer_literal }}, {{ server_literal }})
    on conflict (name) do update set server_name = excluded.server_name;
