INSERT INTO fidelia_meta (key, value) VALUES ({key:String}, {value:String})
