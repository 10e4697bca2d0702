-- Node {{ peer }} left the node file.
drop server if exists {{ server }} cascade;
delete from repsync.peer where name = {{ peer_literal }};
