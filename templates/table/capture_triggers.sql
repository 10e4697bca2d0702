-- Statement-level triggers: one call per statement, rows from the transition tables.
create {% if replace %}or replace {% endif %}trigger repsync_capture_insert after insert on {{ table }}
    referencing new table as new_rows
    for each statement execute function repsync.{{ function }}();
create {% if replace %}or replace {% endif %}trigger repsync_capture_update after update on {{ table }}
    referencing old table as old_rows new table as new_rows
    for each statement execute function repsync.{{ function }}();
create {% if replace %}or replace {% endif %}trigger repsync_capture_delete after delete on {{ table }}
    referencing old table as old_rows
    for each statement execute function repsync.{{ function }}();
create {% if replace %}or replace {% endif %}trigger repsync_capture_truncate after truncate on {{ table }}
    for each statement execute function repsync.{{ function }}();
