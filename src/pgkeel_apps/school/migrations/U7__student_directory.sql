DROP VIEW IF EXISTS student_directory;
