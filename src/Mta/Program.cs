Console.WriteLine("mta");
