//! SQL analysis (sqlparser): syntax check, output columns, lineage, relation references.
