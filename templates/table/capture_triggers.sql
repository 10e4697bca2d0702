-- Statement-level triggers: one call per statement, rows from the transition tables.
{%- if partition %}
-- On a partition, for statements that name it (those through the partitioned table
-- fire the partitioned table's triggers only); the argument tells the function so.
{%- endif %}
{%- let args %}{% if partition %}'partition'{% endif %}{% endlet %}
create {% if replace %}or replace {% endif %}trigger repsync_capture_insert after insert on {{ table }}
    referencing new table as new_rows
    for each statement execute function repsync.{{ function }}({{ args }});
create {% if replace %}or replace {% endif %}trigger repsync_capture_update after update on {{ table }}
    referencing old table as old_rows new table as new_rows
    for each statement execute function repsync.{{ function }}({{ args }});
create {% if replace %}or replace {% endif %}trigger repsync_capture_delete after delete on {{ table }}
    referencing old table as old_rows
    for each statement execute function repsync.{{ function }}({{ args }});
{%- if partition %}
create {% if replace %}or replace {% endif %}trigger repsync_capture_truncate before truncate on {{ table }}
    for each statement execute function repsync.{{ function }}({{ args }});
{%- else %}
create {% if replace %}or replace {% endif %}trigger repsync_capture_truncate after truncate on {{ table }}
    for each statement execute function repsync.{{ function }}();
{%- endif %}
{%- if partitioned %}
-- Marks a truncate of the partitioned table, which its partitions' triggers allow.
create {% if replace %}or replace {% endif %}trigger repsync_capture_truncating before truncate on {{ table }}
    for each statement execute function repsync.{{ function }}();
{%- endif %}
