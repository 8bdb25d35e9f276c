DROP TABLE IF EXISTS parsed_student_feedback, attendances, class_sessions, enrollments, courses, students;
