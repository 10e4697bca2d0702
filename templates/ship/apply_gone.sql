call repsync.{{ function }}('D', $1::text::json, null)
