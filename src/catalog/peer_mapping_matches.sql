-- Whether this role's user mapping for foreign server $1 exists and carries password
-- $2 (null: none). The password is compared here, as a bound parameter, so nothing
-- derived from it is stored to tell whether the mapping must change.
select exists (
    select
      from pg_user_mappings m
     where m.srvname = $1::text
       and m.usename = current_user
       and (select o.option_value
              from pg_options_to_table(m.umoptions) o
             where o.option_name = 'password') is not distinct from $2::text)
