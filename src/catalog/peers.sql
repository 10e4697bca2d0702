-- Peers known to this node, whether their foreign server is there, and whether a
-- replicated table still sends to them.
select p.name,
       exists (select from pg_foreign_server s where s.srvname = p.server_name) as server_present,
       exists (select from repsync.route r where r.dest = p.name) as in_use
  from repsync.peer p
 order by p.name
