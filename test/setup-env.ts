// keep test output readable: application logs at warn and above unless asked otherwise
process.env.LOG_LEVEL = process.env.LOG_LEVEL || 'warn';
