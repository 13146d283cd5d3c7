DROP TABLE access_log;
DROP TABLE id_index;
