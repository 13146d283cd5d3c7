DROP TABLE rejected_mutations;
DROP TABLE record_history;
DROP TABLE records;
DROP TABLE scope_seqs;
