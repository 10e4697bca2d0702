-- Node {{ peer }} left the node file.
drop server if exists {{ server }} cascade;
drop sequence if exists repsync.{{ queued_mark }};
delete from repsync.peer where name = {{ peer_literal }};
